"""clvml.models"""
