"""The test harness; tests import helpers from here, never from a conftest.py.

stack.py             the service in-process: StackBuilder.open() / open_stack(), Stack,
                     make_settings, migrate, running_api, running_worker, TEST_SECRET
database.py          a throw-away PostgreSQL database, engine_of(stack), count()
domain.py            domain tests: a migrated SQLite copy, TemporalStandIn, club()
workflow_env.py      the Temporal dev server and the time-skipping test server
workflow_doubles.py  scripted activity doubles for ProvisionTenant (fast tier)
provisioning.py      waiting on steps and runs; what a tenant left in the emulators
emulator_server.py   the emulators in a thread (fixtures re-exported by the conftests)
emulator_auth.py     tokens for talking to the emulators directly
resolver.py          FakeResolver, DNS for the webhook URL policy
processes.py         real processes: `python worker.py`, `syston api`, a dev server,
                     `syston dev`
intake.py            durable intake: pending requests, runs per tenant, wait_until
cli.py               running the `syston` command with a clean environment
problems.py          assert_problem for problem+json answers
admin_stack.py       the admin tests' names (AdminStack, StartStack)
"""
