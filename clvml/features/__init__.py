"""clvml.features"""
