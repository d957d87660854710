"""Operator commands: `flask --app wsgi <command>` (create-admin, flags, seed-demo).

Each command pushes the app context itself (with_appcontext): the `flask` command does so for
app commands, but `app.cli` invoked directly (app.test_cli_runner(), scripts) does not.
"""

from __future__ import annotations

import secrets

import click
from flask import Flask
from flask.cli import with_appcontext
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from collab import demo, flags
from collab.auth.passwords import passwords
from collab.auth.schemas import RegisterSchema
from collab.extensions import db
from collab.models import User


@click.command("create-admin")
@click.option("--email", required=True)
@click.option("--username", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@with_appcontext
def create_admin(email: str, username: str, password: str) -> None:
    """Create an administrator, or promote the existing user with that email."""
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    verb = "Promoted"
    if user is None:
        user, verb = new_user(email, username, password), "Created"
    user.is_admin = True
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise click.ClickException("That username is already taken") from error
    click.echo(f"{verb} administrator {user.email} ({user.id})")


def new_user(email: str, username: str, password: str) -> User:
    try:
        data = RegisterSchema().load({"email": email, "username": username, "password": password})
    except ValidationError as error:
        raise click.ClickException(f"Invalid administrator: {error.messages}") from error
    user = User(
        email=data["email"],
        username=data["username"],
        password_hash=passwords().hash(password),
    )
    db.session.add(user)
    return user


@click.group("flags")
def flags_group() -> None:
    """Inspect and change feature flags."""


@flags_group.command("list")
@with_appcontext
def list_flags() -> None:
    for name in sorted(flags.FLAGS):
        state = flags.flag_state(name)
        click.echo(f"{name}\t{'on' if state['enabled'] else 'off'}")


@flags_group.command("set")
@click.argument("name", type=click.Choice(sorted(flags.FLAGS)))
@click.argument("value", type=click.Choice(["on", "off"]))
@with_appcontext
def set_flag(name: str, value: str) -> None:
    flags.set_flag(name, value == "on")
    click.echo(f"{name} is now {value}")


@click.command("seed-demo")
@click.option("--password", help="for the demo users it creates (default: a random one, printed)")
@with_appcontext
def seed_demo(password: str | None) -> None:
    """Create demo users (one per role), a shared project, workspaces and a document."""
    password = password or secrets.token_urlsafe(12)
    try:
        report = demo.seed(password)
    except demo.DemoError as error:
        raise click.ClickException(str(error)) from error
    except IntegrityError as error:  # a username taken by another account, or a concurrent run
        db.session.rollback()
        raise click.ClickException(f"Could not create the demo data: {error.orig}") from error
    for line in report.lines:
        click.echo(f"  {line}")
    if report.new_users:
        click.echo(f"Sign in with one of the emails above and the password: {password}")
    elif report.created == 0:
        click.echo("The demo data is complete: nothing to create.")


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(flags_group)
    app.cli.add_command(seed_demo)
