"""Tests of observatory_sdk.genai."""
