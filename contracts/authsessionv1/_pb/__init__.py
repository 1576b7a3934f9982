"""Code generated from proto/ by scripts/protogen.py. DO NOT EDIT."""
