"""The web portal: uploads for sites, the report library for funders (``reval portal``)."""

from reval.portal.app import create_app, serve

__all__ = ["create_app", "serve"]
