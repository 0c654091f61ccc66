"""clvml.tracking"""
