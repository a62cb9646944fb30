"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from api import create_app

app = create_app()
