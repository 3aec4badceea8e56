"""Bounces and complaints as real mail systems write them, built around an email King-Avis
sent: Postfix's DSN, Exim's plain-text bounce, Gmail's and Microsoft 365's DSNs, and an ARF
feedback report (Yahoo's feedback loop). Used by the deliverability tests."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime


def _headers_of(original: bytes) -> str:
    return original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace").replace("\r\n", "\n")


def _date() -> str:
    return format_datetime(datetime.now(UTC))


def postfix(original: bytes, envelope_from: str, recipient: str, *, status: str = "5.1.1",
            action: str = "failed") -> bytes:
    if status.startswith("5"):
        diagnostic = (f"550 5.1.1 <{recipient}>: Recipient address rejected: User unknown in "
                      "virtual mailbox table")
    else:
        diagnostic = (f"450 4.2.0 <{recipient}>: Recipient address rejected: Greylisted, see "
                      "http://postgrey.schweikert.ch/help/example.com.html")
    text = f"""Return-Path: <>
Delivered-To: {envelope_from}
Received: by mx.kingavis.test (Postfix) id 4Q1xyz2ABCz9sWk; {_date()}
Date: {_date()}
From: MAILER-DAEMON@mx.kingavis.test (Mail Delivery System)
Subject: {"Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail (still being retried)"}
To: {envelope_from}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4Q1xyz2ABCz9sWk.1767607200/mx.kingavis.test"
Content-Transfer-Encoding: 8bit
Message-Id: <20260105100000.4Q1xyz2ABCz9sWk-{status}-{action}@mx.kingavis.test>

This is a MIME-encapsulated message.

--4Q1xyz2ABCz9sWk.1767607200/mx.kingavis.test
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.kingavis.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{recipient}>: host mx.example.com[203.0.113.5] said: {diagnostic} (in reply to RCPT TO
    command)

--4Q1xyz2ABCz9sWk.1767607200/mx.kingavis.test
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.kingavis.test
X-Postfix-Queue-ID: 4Q1xyz2ABCz9sWk
X-Postfix-Sender: rfc822; {envelope_from}
Arrival-Date: {_date()}

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; {diagnostic}

--4Q1xyz2ABCz9sWk.1767607200/mx.kingavis.test
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{envelope_from}>
{_headers_of(original)}

--4Q1xyz2ABCz9sWk.1767607200/mx.kingavis.test--
"""
    return text.replace("\n", "\r\n").encode()


def exim(original: bytes, envelope_from: str, recipient: str) -> bytes:
    """Exim's classic bounce: plain text, X-Failed-Recipients, the message copied below."""
    body = original.decode("ascii", "replace").replace("\r\n", "\n")
    text = f"""Return-path: <>
Envelope-to: {envelope_from}
Delivery-date: {_date()}
Received: from Debian-exim by mx.kingavis.test with local (Exim 4.96)
\tid 1tUa7B-0004Xk-2N
\tfor {envelope_from}; {_date()}
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.kingavis.test>
To: {envelope_from}
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1tUa7B-0004Xk-2N@mx.kingavis.test>
Date: {_date()}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mx.example.com [203.0.113.5]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <{envelope_from}>
{body}"""
    return text.replace("\n", "\r\n").encode()


def gmail(original: bytes, envelope_from: str, recipient: str) -> bytes:
    """Gmail's "Delivery Status Notification (Failure)", the original attached whole."""
    body = original.decode("ascii", "replace").replace("\r\n", "\n")
    boundary = "000000000000a1b2c3d4e5f60718"
    text = f"""Delivered-To: {envelope_from}
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {envelope_from}
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
Message-ID: <65a1b2c3.050a0220.1234.abcd.GMR@mx.google.com>
Date: {_date()}
MIME-Version: 1.0
Content-Type: multipart/report; boundary="{boundary}"; report-type=delivery-status

--{boundary}
Content-Type: multipart/related; boundary="{boundary}_rel"

--{boundary}_rel
Content-Type: text/plain; charset="UTF-8"


** Address not found **

Your message wasn't delivered to {recipient} because the address couldn't be found, or is unable to receive mail.

Learn more here: https://support.google.com/mail/?p=NoSuchUser

The response was:

The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.

--{boundary}_rel--

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; mx.kingavis.test
Arrival-Date: {_date()}

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.102.27, the server for the domain example.com.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try
 550-5.1.1 double-checking the recipient's email address for typos or
 550-5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-a9a6e0f2e1fsi123456766b.42 - gsmtp
Last-Attempt-Date: {_date()}

--{boundary}
Content-Type: message/rfc822

{body}
--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()


def microsoft(original: bytes, envelope_from: str, recipient: str) -> bytes:
    """Exchange Online's non-delivery report (5.1.10, recipient not found)."""
    headers = _headers_of(original)
    boundary = "_000_AM0PR01MB6417D1B2C3D4E5F6AM0PR01MB6417eurp_"
    text = f"""Return-Path: <>
From: <postmaster@outlook.com>
To: <{envelope_from}>
Date: {_date()}
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Content-Language: en-US
Message-ID: <4a8f2c1e-7b3d-4e5f-9a0b-1c2d3e4f5a6b@AM0PR01MB6417.eurprd01.prod.exchangelabs.com>
In-Reply-To: <orig>
Subject: Undeliverable: review request
Auto-Submitted: auto-replied
X-MS-Exchange-Message-Is-Ndr:
MIME-Version: 1.0

--{boundary}
Content-Type: multipart/alternative; differences=Content-Type;
\tboundary="b2_{boundary}"

--b2_{boundary}
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Your message to {recipient} couldn't be delivered.
{recipient.split("@")[0]} wasn't found at {recipient.split("@")[1]}.
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'

--b2_{boundary}--

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB6417.eurprd01.prod.exchangelabs.com
Received-From-MTA: dns;mx.kingavis.test
Arrival-Date: {_date()}

Final-Recipient: rfc822;{recipient}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--{boundary}
Content-Type: text/rfc822-headers

{headers}

--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()


def arf(original: bytes, envelope_from: str, recipient: str) -> bytes:
    """A feedback loop's abuse report (RFC 5965), as Yahoo's is written."""
    body = original.decode("ascii", "replace").replace("\r\n", "\n")
    boundary = "----=_Part_1234567_987654321.1767607200000"
    text = f"""From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
To: fbl@bounce.kingavis.test
Subject: FW: review request
Date: {_date()}
Message-ID: <1767607200.abcd.arf@arf.mail.yahoo.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset=UTF-8

This is an email abuse report for an email message received from IP 203.0.113.9 on {_date()}.
For more information about this format please see http://www.mipassoc.org/arf/.

--{boundary}
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <{envelope_from}>
Original-Rcpt-To: <{recipient}>
Arrival-Date: {_date()}
Reported-Domain: kingavis.test
Source-IP: 203.0.113.9
Authentication-Results: mta1000.mail.gq1.yahoo.com; dkim=pass header.d=kingavis.test

--{boundary}
Content-Type: message/rfc822

Return-Path: <{envelope_from}>
{body}
--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()


FORMATS = {"postfix": postfix, "exim": exim, "gmail": gmail, "microsoft": microsoft}
