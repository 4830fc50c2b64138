impl :: bincode :: Encode for ProposalRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.change, encoder) ?; :: bincode ::
        Encode :: encode(&self.approvals, encoder) ?; :: bincode :: Encode ::
        encode(&self.expires_at_ms, encoder) ?; :: bincode :: Encode ::
        encode(&self.executed_at, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}