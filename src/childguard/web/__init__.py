"""The removal-request and review web service (FastAPI): `create_app(Settings(...))`."""
