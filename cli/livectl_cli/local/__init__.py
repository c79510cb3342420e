"""The local stack: moto + the provider emulator + the real handlers, wired from template.yaml.

`livectl local` runs it; `livectl demo` runs it and drives a scenario; tests start it in-process.
Nothing here is deployed to Lambda.
"""
