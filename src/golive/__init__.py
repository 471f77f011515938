"""golive: go-live runbooks as Prefect flows, with gates, grey release and automatic rollback."""

__version__ = "0.1.0"
__all__ = ["__version__"]
