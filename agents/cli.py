"""`fenster-agent`: the host agent's command line, and `fenster-agent guest` (the guest agent).

Exit codes: 0 fine, 1 work failed (a window failed, the API or libvirt unreachable),
2 usage or configuration error, 75 another agent holds the lock (EX_TEMPFAIL).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.client import Client
from agents.errors import (
    AgentError,
    ApiError,
    ConfigError,
    DomainNotFound,
    LockedError,
    TransportError,
)
from agents.guest.command import split as split_command
from agents.guest.loop import GuestAgent
from agents.guest.loop import Settings as GuestSettings
from agents.host.apply import Context
from agents.host.hooks import HookSettings
from agents.host.journal import Journal, StateLock, agent_identity
from agents.host.loop import Agent, inventory
from agents.virt.libvirt import CPU_MODES, Hypervisor

__all__ = ["EX_CONFIG", "EX_FAILED", "EX_TEMPFAIL", "build_parser", "main"]

EX_FAILED = 1
EX_CONFIG = 2
EX_TEMPFAIL = 75
DEFAULT_API = "http://127.0.0.1:8000/graphql"
DEFAULT_STATE_DIR = Path("/var/lib/fenster-agent")

log = logging.getLogger("fenster.agent")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fenster-agent",
        description="fenster host agent: carries out maintenance windows on a libvirt host",
    )
    _connection_options(p)
    _host_options(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("inventory", help="print what libvirt shows as JSON (no API needed)")
    sub.add_parser("once", help="run one cycle and print a summary")
    run = sub.add_parser("run", help="run cycles until SIGTERM/SIGINT")
    run.add_argument("--interval", type=float, default=60.0, help="seconds between cycles")
    _guest_parser(sub)
    return p


def _connection_options(p: argparse.ArgumentParser) -> None:
    """Where the agent talks to and keeps its state: the API and its token (both agents), libvirt
    and the reboot command (the host agent), the state directory, the API retries (both)."""
    p.add_argument(
        "--api",
        default=os.environ.get("FENSTER_AGENT_API", DEFAULT_API),
        help="GraphQL URL (default FENSTER_AGENT_API or %(default)s)",
    )
    p.add_argument(
        "--token-file", type=Path, help="file holding the agent token (else FENSTER_AGENT_TOKEN)"
    )
    p.add_argument("--uri", default="qemu:///system", help="libvirt URI (default %(default)s)")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("FENSTER_AGENT_STATE_DIR") or DEFAULT_STATE_DIR),
        help="journal, lock and agent identity; one per host (FENSTER_AGENT_STATE_DIR or "
        "%(default)s)",
    )
    p.add_argument(
        "--reboot-command",
        help="command that reboots this host during a host_reboot (e.g. 'systemctl reboot'); "
        "without it the guests are stopped and started again, the host is not rebooted",
    )
    p.add_argument(
        "--retries", type=int, default=4, help="API retries on connection errors/5xx (%(default)s)"
    )


def _host_options(p: argparse.ArgumentParser) -> None:
    """The host agent's waits: a guest's shutdown, libvirt, the guest hooks, a guest's boot."""
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=120.0,
        help="seconds a guest gets to shut down gracefully (%(default)s)",
    )
    p.add_argument(
        "--libvirt-wait",
        type=float,
        default=60.0,
        help="seconds to wait for libvirt to answer again before giving up a cycle (%(default)s)",
    )
    p.add_argument(
        "--cpu-mode",
        choices=CPU_MODES,
        default="host-model",
        help="CPU the guests see, set on every restart (%(default)s)",
    )
    p.add_argument(
        "--hooks-wait",
        type=float,
        default=900.0,
        help="seconds a guest's enter hooks may say 'not yet' before its window fails "
        "(%(default)s)",
    )
    p.add_argument(
        "--hooks-answer-wait",
        type=float,
        default=300.0,
        help="seconds a guest agent may leave its enter hooks unanswered before the window "
        "goes ahead without them (%(default)s)",
    )
    p.add_argument(
        "--boot-wait",
        type=float,
        default=300.0,
        help="seconds a guest agent gets to say which kernel its guest booted after a kernel "
        "activation (%(default)s)",
    )
    p.add_argument("--hooks-poll", type=float, default=5.0, help=argparse.SUPPRESS)


def _guest_parser(sub: argparse._SubParsersAction) -> None:
    """`fenster-agent guest`: the guest agent's own options."""
    g = sub.add_parser(
        "guest",
        help="the guest agent (inside a VM, with a guest token): run its due system updates",
    )
    g.add_argument(
        "--command",
        dest="update_command",
        metavar="CMD",
        required=True,
        help="the update command (split like a shell would; output lines 'changed: PACKAGE "
        "...' name the changed packages)",
    )
    g.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds the command may take (%(default)s)"
    )
    g.add_argument("--proc", type=Path, default=Path("/proc"), help=argparse.SUPPRESS)
    g.add_argument(
        "--hooks-dir",
        type=Path,
        default=Path("/etc/fenster/hooks"),
        help="enter.d/ and leave.d/ hold the hooks run before and after a window that stops "
        "this VM (%(default)s)",
    )
    g.add_argument(
        "--hook-timeout", type=float, default=300.0, help="seconds one hook may take (%(default)s)"
    )
    g.add_argument(
        "--facts-interval",
        type=float,
        default=300.0,
        help="seconds between reports of the guest's kernel, swap and CPU model (%(default)s)",
    )
    g.add_argument("--once", action="store_true", help="run one cycle and print a summary")
    g.add_argument("--interval", type=float, default=60.0, help="seconds between cycles")


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"cannot read the token file: {e}") from e
    else:
        token = os.environ.get("FENSTER_AGENT_TOKEN", "").strip()
    if not token:
        raise ConfigError("no agent token: pass --token-file FILE or set FENSTER_AGENT_TOKEN")
    return token


def _state_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise ConfigError(f"cannot use the state directory {path}: {e}") from e
    return path


def _inventory(args: argparse.Namespace) -> int:
    with Hypervisor.connect(args.uri) as hv:
        seen = inventory(hv)
        domains = []
        for d in seen.pop("domains"):
            try:
                top = hv.guest(d.name).max_memory_mib
            except DomainNotFound:
                log.warning("domain %s disappeared while it was being listed; skipped", d.name)
                continue
            domains.append({**dataclasses.asdict(d), "max_memory_mib": top})
    print(json.dumps({"uri": args.uri, **seen, "domains": domains}, indent=2))
    return 0


def _work(args: argparse.Namespace) -> int:
    if args.command == "run" and args.interval <= 0:
        raise ConfigError("--interval must be positive")
    if args.retries < 0:
        raise ConfigError("--retries cannot be negative")
    if args.shutdown_timeout <= 0:
        raise ConfigError("--shutdown-timeout must be positive")
    if args.libvirt_wait < 0:
        raise ConfigError("--libvirt-wait cannot be negative")
    if min(args.hooks_wait, args.hooks_answer_wait, args.boot_wait) < 0 or args.hooks_poll <= 0:
        raise ConfigError("--hooks-wait, --hooks-answer-wait and --boot-wait cannot be negative")
    token = _token(args)
    state = _state_dir(args.state_dir)
    with (
        StateLock(state),
        Hypervisor.connect(args.uri, args.shutdown_timeout) as hv,
        Client(args.api, token, retries=args.retries, agent=agent_identity(state)) as client,
    ):
        ctx = Context(
            hv, Journal(state), reboot_command=args.reboot_command, cpu_mode=args.cpu_mode
        )
        hooks = HookSettings(
            args.hooks_wait, args.hooks_answer_wait, args.hooks_poll, args.boot_wait
        )
        agent = Agent(client, ctx, libvirt_wait=args.libvirt_wait, hooks=hooks)
        if args.command == "run":
            return agent.run(args.interval)
        agent.install_signals()
        summary = agent.cycle()
    print(json.dumps(summary.as_dict(), indent=2))
    return EX_FAILED if summary.failed else 0


def _guest(args: argparse.Namespace) -> int:
    if min(args.timeout, args.interval, args.hook_timeout, args.facts_interval) <= 0:
        raise ConfigError(
            "--timeout, --interval, --hook-timeout and --facts-interval must be positive"
        )
    if args.retries < 0:
        raise ConfigError("--retries cannot be negative")
    try:
        split_command(args.update_command)
    except ValueError as e:
        raise ConfigError(f"--command: {e}") from e
    token = _token(args)
    state = _state_dir(args.state_dir)
    settings = GuestSettings(
        args.update_command,
        args.timeout,
        state,
        args.proc,
        args.hooks_dir,
        args.hook_timeout,
        args.facts_interval,
    )
    with StateLock(state), Client(args.api, token, retries=args.retries) as client:
        agent = GuestAgent(client, settings)
        if not args.once:
            return agent.run(args.interval)
        agent.install_signals()
        summary = agent.cycle()
    print(json.dumps(dataclasses.asdict(summary), indent=2))
    return EX_FAILED if summary.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    try:
        if args.command == "inventory":
            return _inventory(args)
        if args.command == "guest":
            return _guest(args)
        return _work(args)
    except LockedError as e:
        print(f"fenster-agent: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    except ConfigError as e:
        print(f"fenster-agent: {e}", file=sys.stderr)
        return EX_CONFIG
    except TransportError as e:
        print(f"fenster-agent: API unreachable: {e.message}", file=sys.stderr)
        return EX_FAILED
    except ApiError as e:
        print(f"fenster-agent: the API refused: {e}", file=sys.stderr)
        if e.kind == "PermissionDenied":
            print(
                "fenster-agent: check the token (role agent scoped to this host, or for "
                "`guest` role guest scoped to this VM)",
                file=sys.stderr,
            )
            return EX_CONFIG
        return EX_FAILED
    except AgentError as e:
        print(f"fenster-agent: {e}", file=sys.stderr)
        return EX_FAILED


if __name__ == "__main__":
    sys.exit(main())
