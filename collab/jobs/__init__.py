"""Code-execution jobs: the languages a worker offers and the sandbox that runs user code."""
