"""Deliver the daily report: a Slack-compatible webhook POST and an e-mail.

``report.webhook``: POST ``{"text": ..., "date": ..., "report": {...headline figures}}`` as
JSON (Slack's incoming webhooks read ``text``; other receivers get the figures too).
``report.smtp``: a multipart mail, the Markdown as text and the report (without charts) as HTML,
over STARTTLS when ``report.smtp.starttls``, with a login when ``username`` is set (the password
from the environment variable ``password_env``). Failures are returned, never raised: a report
that could not be sent is still written.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from mentor.analysis.daily_md import summary_text
from mentor.config import Config

log = logging.getLogger(__name__)


def webhook_payload(data: dict[str, Any]) -> dict[str, Any]:
    t = data["training"]
    return {
        "text": summary_text(data),
        "date": data["date"],
        "report": {
            "files": t["files"],
            "rows": t["rows"],
            "steps": t["steps"],
            "final_loss": t["final_loss"],
            "best": data["best_overall"],
            "cost": data["cost"]["total_cost"],
            "currency": data["cost"]["currency"],
            "recommendations": data["recommendations"],
        },
    }


def post_webhook(url: str, payload: dict[str, Any], timeout: float) -> str:
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return f"sent ({resp.status})"


def send_mail(cfg: Config, subject: str, text: str, html: str) -> str:
    s = cfg.report.smtp
    if not s.host or not s.to or not s.sender:
        return "not configured"
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = s.sender
    msg["To"] = ", ".join(s.to)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
        if s.starttls:
            smtp.starttls()
        if s.username:
            password = os.environ.get(s.password_env or "", "")
            smtp.login(s.username, password)
        smtp.send_message(msg)
    return f"sent to {len(s.to)} recipient(s)"


def send_all(cfg: Config, data: dict[str, Any], markdown: str, html: str) -> dict[str, str]:
    """Send to every configured channel; ``{"webhook": "sent (200)", "smtp": "error: ..."}``."""
    out: dict[str, str] = {}
    if cfg.report.webhook:
        try:
            out["webhook"] = post_webhook(
                cfg.report.webhook, webhook_payload(data), cfg.report.webhook_timeout_s
            )
        except (urllib.error.URLError, OSError, ValueError) as err:
            log.warning("daily report webhook failed: %s", err)
            out["webhook"] = f"error: {err}"
    if cfg.report.smtp.host:
        try:
            out["smtp"] = send_mail(cfg, f"mentor daily report {data['date']}", markdown, html)
        except (smtplib.SMTPException, OSError) as err:
            log.warning("daily report mail failed: %s", err)
            out["smtp"] = f"error: {err}"
    return out
