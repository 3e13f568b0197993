"""A local SMTP sink for the e-mail tests: aiosmtpd on a free loopback port.

Prints one JSON line when listening ({"port": N}), then one JSON line per message received
({"mail_from", "rcpt_tos", "subject", "body", "data"}: the envelope, the decoded subject and
text body, and the raw message), flushed at once, so a test reads them from stdout as they
arrive. Accepts every message; no TLS, no authentication (the gateway allows plain SMTP only to
loopback hosts). Stops when stdin closes (the test dropped it) or on SIGTERM.
"""

import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    async def handle_DATA(self, server, session, envelope):
        data = envelope.content
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        message = email.message_from_string(data, policy=email.policy.default)
        line = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "body": message.get_content(),
            "data": data,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), hostname="sink.test"), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    # Stop when the test closes our stdin.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
