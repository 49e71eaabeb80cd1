"""Verifies webhook deliveries with the Standard Webhooks reference library.

Reads {"secret": "whsec_...", "messages": [{"headers": {...}, "body": "..."}]} on stdin and
prints the JSON list of the verified payloads; exits non-zero on the first message whose
signature (or timestamp) does not verify.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

request = json.load(sys.stdin)
webhook = Webhook(request["secret"])
verified = []
for index, message in enumerate(request["messages"]):
    try:
        verified.append(webhook.verify(message["body"], message["headers"]))
    except WebhookVerificationError as error:
        print(f"message {index}: {error}", file=sys.stderr)
        sys.exit(1)
json.dump(verified, sys.stdout)
