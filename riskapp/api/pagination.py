from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class Pagination(PageNumberPagination):
    """?page=N, ?page_size=M (at most 200): {"count", "next", "previous", "results"}."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    invalid_page_message = "Invalid page {page_number!r}: {message}. Pages are numbered from 1."

    def get_page_size(self, request) -> int:
        """The requested page size; a 400 naming page_size when it is not a whole number from 1 (DRF would
        silently fall back to the default). Sizes over the maximum are capped."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise ValidationError(
                {self.page_size_query_param: [f"Give a whole number from 1 to {self.max_page_size}, not {raw!r}."]}
            )
        return min(size, self.max_page_size)


def paginated_response(*, request, view, items, serializer_class) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context={"request": request}).data)
