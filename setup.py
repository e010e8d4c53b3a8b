"""Thin shim: the project is defined in pyproject.toml."""

from setuptools import setup

setup()
