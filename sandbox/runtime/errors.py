"""A Lambda function error, as Lambda reports it to its caller.

Its own module so the worker processes and the API emulation need not import moto's
interpreter (the Step Functions seams) to raise or catch it.
"""


class FunctionError(Exception):
    """A function error as Lambda reports it: the class name is what ASL Retry/Catch match."""

    def __init__(self, error_type: str, message: str = "") -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
