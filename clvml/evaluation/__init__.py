"""clvml.evaluation"""
