"""The Ansible driver: one play per change (run.py), batched plays held at a gate (rolling.py),
ansible-runner events as per-host results (events.py), and the contract class (driver.py)."""

from golive.drivers.ansible.driver import AnsibleChange, AnsibleDriver
from golive.drivers.ansible.events import EventHandler
from golive.drivers.ansible.rolling import RollingPlaybook, rolling_playbook
from golive.drivers.ansible.run import run_playbook

__all__ = ["AnsibleChange", "AnsibleDriver", "EventHandler", "RollingPlaybook", "rolling_playbook", "run_playbook"]
