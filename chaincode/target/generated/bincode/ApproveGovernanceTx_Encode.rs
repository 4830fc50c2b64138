impl :: bincode :: Encode for ApproveGovernanceTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.proposal, encoder) ?; core ::
        result :: Result :: Ok(())
    }
}