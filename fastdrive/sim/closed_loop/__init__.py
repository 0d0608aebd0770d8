"""Closed-loop driving through the planning service: vehicle model, scorer, simulator."""
