"""The risk domain: trading states, scoped locks, denials with stable codes, pre-trade
checks, limits, protections and exchange rules. Pure: time is passed in as ``now``.

Import from the submodules (``domain.risk.codes``, ``domain.risk.states``, ...); this
package re-exports nothing so that importing one rule never loads the others.
"""
