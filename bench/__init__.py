# Before any bench process imports polars: the project's allocator settings
# (assets_pkg/__init__.py), so that (s) does the same work on the same terms as (a).
import assets_pkg  # noqa: F401
