"""The reliability tests reuse the action functions' fixtures: a moto server and the provider emulator."""

from tests.control.conftest import emu, moto_url, stack  # noqa: F401 - fixtures, found by name
