"""parallel-ssh's probe as a whole process: one `true` on every host (run by its own venv's python).

parallel-ssh (ssh2-python) has no known_hosts check, so this peer skips host key verification.
"""

import json
import sys

from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig

hosts = json.load(open(sys.argv[1]))
client = ParallelSSHClient(
    [h["host"] for h in hosts],
    host_config=[HostConfig(port=h["port"], user=h["user"], private_key=h["client_key"],
                            allow_agent=False, identity_auth=False) for h in hosts],
    pool_size=len(hosts), allow_agent=False, identity_auth=False)
output = client.run_command("true")
client.join(output)
ok = sum(1 for o in output if o.exit_code == 0)
print(f"{ok}/{len(hosts)} ok")
sys.exit(0 if ok == len(hosts) else 1)
