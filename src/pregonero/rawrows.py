"""Model instances from rows of hand-written SQL, as the ORM itself would make them.

For the few hot statements the ORM cannot express or composes too slowly (a guest's page lookup, the dispatcher's
claim): the columns come from the model's own metadata, quoted by the backend; each value goes through the
converters the ORM would apply (SQLite hands back datetimes as text and booleans as integers, JSON arrives as
text); and the objects are made with `Model.from_db`, so they save, refresh and compare like any other.
"""

from dataclasses import dataclass, field


@dataclass
class Columns:
    """The concrete columns of ``model`` (prefixed by a table alias when given) and how to turn them into one."""

    model: type
    sql: str  # "a.id, a.name, …" for a SELECT list or a RETURNING clause
    names: list[str]
    converters: list[tuple] = field(default_factory=list)  # (index, converters, column) where any apply

    @classmethod
    def of(cls, model, connection, alias: str | None = None, only: tuple[str, ...] = ()) -> "Columns":
        """``only``: these attribute names, the rest deferred on the instances (read from the database if touched,
        as with the ORM's ``only()``)."""
        quote = connection.ops.quote_name
        fields = [f for f in model._meta.concrete_fields if not only or f.attname in only]
        prefix = f"{alias}." if alias else ""
        converters = []
        for index, model_field in enumerate(fields):
            column = model_field.get_col(alias or model._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                converters.append((index, found, column))
        return cls(model, ", ".join(f"{prefix}{quote(f.column)}" for f in fields),
                   [f.attname for f in fields], converters)

    def __len__(self) -> int:
        return len(self.names)

    def values(self, row, connection) -> list:
        """These column values (a row, or this model's slice of a joined row) as the model's fields hold them."""
        values = list(row)
        for index, converters, column in self.converters:
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        return values

    def instance(self, row, connection):
        """The model instance of these column values."""
        return self.model.from_db(connection.alias, self.names, self.values(row, connection))
