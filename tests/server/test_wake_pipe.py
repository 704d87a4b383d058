"""Listener workers wake delivery engines in other processes through a shared pipe."""

import asyncio
import os
from pathlib import Path

from postoffice.app import WakePipe


def test_notifications_in_one_loop_turn_become_one_byte() -> None:
    pipe = WakePipe()

    async def main() -> None:
        notify = pipe.notifier(asyncio.get_running_loop())
        for _ in range(100):
            notify()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert os.read(pipe.read_fd, 4096) == b"\x01"


def test_a_forked_notifier_wakes_the_listening_engine() -> None:
    pipe = WakePipe()
    woken = 0

    async def main() -> None:
        nonlocal woken
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            nonlocal woken
            woken += 1
            event.set()

        pipe.listen(loop, wake)
        pid = os.fork()
        if pid == 0:  # another process, as a listener worker is
            os.write(pipe.write_fd, b"\x01")
            os._exit(0)
        await asyncio.wait_for(event.wait(), 5)
        os.waitpid(pid, 0)
        await asyncio.sleep(0.05)  # drained: no second wake for the same byte

    asyncio.run(main())
    assert woken == 1


def test_a_full_pipe_does_not_block_the_notifier() -> None:
    pipe = WakePipe()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        notify = pipe.notifier(loop)
        for _ in range(70_000):  # more bytes than a pipe holds, one loop turn each
            notify()
            await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert len(os.read(pipe.read_fd, 1 << 20)) > 0


def test_roles_of_the_processes_serve_runs(tmp_path: Path) -> None:
    from postoffice import config as cfg
    from postoffice.app import Role, plan_roles

    def roles(text: str) -> list[Role]:
        (Path(tmp_path) / "postoffice.toml").write_text(text)
        return plan_roles(cfg.load(Path(tmp_path), environ={}))

    assert roles("[server]\nworkers = 2\n") == [Role(0), Role(1), Role(0, listen=False, deliver=True)]
    assert roles("[delivery]\nprocesses = 0\n") == [Role(0, deliver=True)]
    assert roles("[server]\nworkers = 2\n[delivery]\nprocesses = 0\n") == [Role(0, deliver=True), Role(1)]
    assert roles("[delivery]\nprocesses = 3\npaused = true\n") == [Role(0)]
    assert roles("[delivery]\nprocesses = 2\n") == [
        Role(0), Role(0, listen=False, deliver=True), Role(1, listen=False, deliver=True)]
