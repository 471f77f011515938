"""The SSH driver: connecting (transport.py), running commands (commands.py), the contract class (driver.py).

paramiko takes about 0.1 s to import: import this package only where commands run.
"""

from golive.drivers.ssh.commands import CommandOutput, exec_on_host, run_command, run_commands, run_on_host
from golive.drivers.ssh.driver import SshChange, SshDriver
from golive.drivers.ssh.transport import HostKeyError, connect, is_transient_connect_error

__all__ = [
    "CommandOutput",
    "HostKeyError",
    "SshChange",
    "SshDriver",
    "connect",
    "exec_on_host",
    "is_transient_connect_error",
    "run_command",
    "run_commands",
    "run_on_host",
]
