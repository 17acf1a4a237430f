"""Wire formats in: decode requests into signal batches. Nothing below sees protobuf or JSON."""
