"""The floor: connect to every host at once with asyncssh, run one `true`, close. A whole process.

    python3 bench/floor_asyncssh.py HOSTS_JSON [N] [--user USER]

Host keys are verified against the fleet's known_hosts; the client key is the fleet's. Nothing
else is imported, so the process time is Python start-up + asyncssh import + the fan-out.
"""

import asyncio
import json
import sys

import asyncssh


async def one(h: dict, user: str) -> int:
    async with asyncssh.connect(h["host"], port=h["port"], username=user,
                                client_keys=[h["client_key"]], known_hosts=h["known_hosts"],
                                config=[]) as conn:
        result = await conn.run("true")
        return result.exit_status


async def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    user = sys.argv[sys.argv.index("--user") + 1] if "--user" in sys.argv else None
    if user:
        args.remove(user)
    hosts = json.load(open(args[0]))
    if len(args) > 1:
        hosts = hosts[: int(args[1])]
    codes = await asyncio.gather(*(one(h, user or h["user"]) for h in hosts))
    bad = [h["name"] for h, c in zip(hosts, codes) if c != 0]
    print(f"{len(hosts) - len(bad)}/{len(hosts)} ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
