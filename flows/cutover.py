"""Prefect entrypoint: ``prefect deploy flows/cutover.py:cutover`` (schedules, UI runs).

Thin on purpose: the engine lives in the golive package.
"""

from golive.engine.flow import cutover

__all__ = ["cutover"]
