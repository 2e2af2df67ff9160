"""Exact explanations: stalkrisk's TreeSHAP, grouped plain-English reasons."""
