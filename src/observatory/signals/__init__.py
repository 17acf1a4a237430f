"""Internal columnar batch types: what receivers produce and the store writes.

Nothing here knows a wire format; values arrive as plain Python values.
"""
