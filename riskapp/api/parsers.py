"""The API's JSON body parser: DRF's, refusing bodies nested so deeply that reading or handling them would fail."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from riskapp.user_json import MAX_DEPTH, json_depth_over

# A body wraps the values it carries in a few levels of its own; each stored value is then held to
# MAX_DEPTH by riskapp.user_json with an error on its own field. Deeper than this, a body is refused whole:
# Python's json reader and writer recurse, and a deep enough body would end the request in a RecursionError.
MAX_BODY_DEPTH = 2 * MAX_DEPTH


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(self._too_deep()) from None
        if json_depth_over(data, MAX_BODY_DEPTH):
            raise ParseError(self._too_deep())
        return data

    @staticmethod
    def _too_deep() -> str:
        return f"JSON parse error - the body is nested more than {MAX_BODY_DEPTH} levels deep; send a flatter one."
