"""Unit tests of packages/observatory-sdk, one module per SDK module."""
