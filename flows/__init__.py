"""Prefect flows and deployments: wiring library calls into tasks, nothing else.

No statistics and no SQL live here; every task calls a use case in
``reval.pipeline``.
"""
