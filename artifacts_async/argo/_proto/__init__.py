"""Generated from artifact.proto by scripts/gen_argo_proto.py; do not edit."""
