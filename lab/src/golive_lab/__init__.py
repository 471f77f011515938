"""The lab: real sshd hosts, Prometheus, a Prefect server and a Kubernetes API emulator on loopback."""
