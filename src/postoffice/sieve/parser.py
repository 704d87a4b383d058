"""Recursive-descent parser for the RFC 5228 grammar (section 8.2):

    script     = *command
    command    = identifier arguments (";" / block)
    block      = "{" *command "}"
    arguments  = *argument [test / test-list]
    argument   = string-list / number / tag
    string-list = "[" string *("," string) "]" / string
    test       = identifier arguments
    test-list  = "(" test *("," test) ")"

Only the shape is checked here; which commands, tests and arguments exist is the
interpreter's `check`."""

from __future__ import annotations

from postoffice.sieve.lexer import Token, tokenize
from postoffice.sieve.nodes import Argument, Command, Number, Script, SieveError, Strings, Tag, Test


def parse(source: str) -> Script:
    """The parsed script; SieveError (with the line) when it is not well formed."""
    return _Parser(list(tokenize(source))).script()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, expected: str) -> Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1].line if self.tokens else 1
            raise SieveError(f"expected {expected}, got end of script", last)
        self.pos += 1
        return token

    def special(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "special" and token.value == char:
            self.pos += 1
            return True
        return False

    def script(self) -> Script:
        commands = []
        while self.peek() is not None:
            commands.append(self.command())
        return Script(tuple(commands))

    def command(self) -> Command:
        token = self.next("a command")
        if token.kind != "identifier":
            raise SieveError(f"expected a command, got {_show(token)}", token.line)
        args, tests = self.arguments()
        if self.special(";"):
            return Command(str(token.value), args, tests, None, token.line)
        if not self.special("{"):
            raise SieveError(f"expected ';' or '{{' after {token.value}", self._line())
        block = []
        while not self.special("}"):
            if self.peek() is None:
                raise SieveError(f"missing '}}' closing the block of line {token.line}",
                                 self._line())
            block.append(self.command())
        return Command(str(token.value), args, tests, tuple(block), token.line)

    def arguments(self) -> tuple[tuple[Argument, ...], tuple[Test, ...]]:
        args: list[Argument] = []
        while (token := self.peek()) is not None:
            if token.kind == "tag":
                args.append(Tag(str(token.value), token.line))
            elif token.kind == "number":
                args.append(Number(int(token.value), token.line))
            elif token.kind == "string":
                args.append(Strings((str(token.value),), False, token.line))
            elif token.kind == "special" and token.value == "[":
                self.pos += 1
                args.append(self.string_list(token.line))
                continue
            else:
                break
            self.pos += 1
        token = self.peek()
        if token is not None and token.kind == "identifier":
            return tuple(args), (self.test(),)
        if self.special("("):
            tests = [self.test()]
            while self.special(","):
                tests.append(self.test())
            if not self.special(")"):
                raise SieveError("expected ',' or ')' in a test list", self._line())
            return tuple(args), tuple(tests)
        return tuple(args), ()

    def string_list(self, line: int) -> Strings:
        values = []
        while True:
            token = self.next("a string")
            if token.kind != "string":
                raise SieveError(f"expected a string in a list, got {_show(token)}", token.line)
            values.append(str(token.value))
            if self.special("]"):
                return Strings(tuple(values), True, line)
            if not self.special(","):
                raise SieveError("expected ',' or ']' in a string list", self._line())

    def test(self) -> Test:
        token = self.next("a test")
        if token.kind != "identifier":
            raise SieveError(f"expected a test, got {_show(token)}", token.line)
        args, tests = self.arguments()
        return Test(str(token.value), args, tests, token.line)

    def _line(self) -> int:
        token = self.peek()
        if token is not None:
            return token.line
        return self.tokens[-1].line if self.tokens else 1


def _show(token: Token) -> str:
    return f"'{token.value}'" if token.kind == "special" else f"{token.kind} {token.value!r}"
