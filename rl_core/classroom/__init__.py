"""Classroom: who owns what (users, sharing, quotas) and the class board."""
