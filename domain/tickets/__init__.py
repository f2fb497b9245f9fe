"""Tickets (工单): types as data, opening, decisions that apply exactly once, queues."""
