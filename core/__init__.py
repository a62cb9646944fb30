"""Aula's product code: settings, database, services and errors; knows neither Flask nor Celery."""

__version__ = "0.1.0"
