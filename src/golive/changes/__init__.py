"""Changes approved before the run: ``golive plan --save``, ``golive change approve``, ``golive run --change``."""

from golive.changes.model import Change, ChangeEvent, ChangePolicy, ChangeState, new_change_id
from golive.changes.service import (
    ChangeRefused,
    approve,
    change_store,
    execute_change,
    note_run_end,
    policy_of,
    prepare_change_run,
    propose,
    refuse_without_change,
    reject,
    user,
)
from golive.changes.store import (
    BadChangeId,
    BadStoreSetting,
    ChangeStore,
    DiskChangeStore,
    StoreUnavailable,
    UnknownChange,
)
from golive.inputs import diff_inputs

__all__ = [
    "BadChangeId",
    "BadStoreSetting",
    "Change",
    "ChangeEvent",
    "ChangePolicy",
    "ChangeRefused",
    "ChangeState",
    "ChangeStore",
    "DiskChangeStore",
    "StoreUnavailable",
    "UnknownChange",
    "approve",
    "change_store",
    "diff_inputs",
    "execute_change",
    "new_change_id",
    "note_run_end",
    "policy_of",
    "prepare_change_run",
    "propose",
    "refuse_without_change",
    "reject",
    "user",
]
