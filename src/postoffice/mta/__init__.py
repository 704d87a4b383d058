"""Outbound mail transfer: DNS, routes, and (later) scheduling and delivery."""
