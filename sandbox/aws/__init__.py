"""The embedded AWS: moto in a process of its own, Step Functions seams, DynamoDB isolation, provisioning."""
