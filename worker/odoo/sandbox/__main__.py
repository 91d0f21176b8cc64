"""``python -m worker.odoo.sandbox``: serve a fresh sandbox in the foreground."""

from __future__ import annotations

import argparse

from .server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Odoo 18 XML-RPC sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8069)
    parser.add_argument("--db", default="revsync")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument(
        "--access-rights",
        action="store_true",
        help="give the user the Administration / Access Rights group",
    )
    parser.add_argument("--no-stripe-journal", action="store_true")
    parser.add_argument("--email", default=None, help="email address of the user")
    args = parser.parse_args(argv)
    serve_forever(
        args.host,
        args.port,
        args.db,
        args.login,
        args.password,
        access_rights=args.access_rights,
        stripe_journal=not args.no_stripe_journal,
        user_email=args.email,
    )


if __name__ == "__main__":
    main()
