"""OTLP over gRPC and HTTP (protobuf and JSON) for traces, metrics and logs."""
