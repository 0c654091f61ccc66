"""Compatibility layers: other libraries' APIs on top of clvml's estimators.

:mod:`clvml.compat.lifetimes` lets code written against the archived ``lifetimes``
package run on clvml by changing its imports (docs/migrating_from_lifetimes.md).
"""
